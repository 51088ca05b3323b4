// The program board: drag a card to another column to move it. The drop sets the card's status
// menu and sends its form, exactly as choosing the status and pressing Move does without
// JavaScript, so the server checks the move the same way (a task cannot be done before the
// tasks it waits for) and answers with the board.
const board = document.querySelector('.board');
if (board) {
  let dragged = null;
  board.addEventListener('dragstart', (event) => {
    const card = event.target.closest('[data-task]');
    if (!card) return;
    dragged = card;
    card.classList.add('board-card-dragging');
    event.dataTransfer.effectAllowed = 'move';
    event.dataTransfer.setData('text/plain', card.dataset.task);
  });
  board.addEventListener('dragend', () => {
    if (dragged) dragged.classList.remove('board-card-dragging');
    dragged = null;
    for (const c of board.querySelectorAll('.board-column-target')) c.classList.remove('board-column-target');
  });
  board.addEventListener('dragover', (event) => {
    const column = event.target.closest('[data-status]');
    if (!column || !dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'move';
    for (const c of board.querySelectorAll('.board-column-target')) {
      if (c !== column) c.classList.remove('board-column-target');
    }
    column.classList.add('board-column-target');
  });
  board.addEventListener('drop', (event) => {
    const column = event.target.closest('[data-status]');
    if (!column || !dragged) return;
    event.preventDefault();
    const form = dragged.querySelector('form');
    const menu = form && form.querySelector('select[name="status"]');
    if (!menu || menu.value === column.dataset.status) return;
    menu.value = column.dataset.status;
    form.requestSubmit();
  });
}
